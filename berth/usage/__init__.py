"""Usage and cost by tag (the Cost & Usage Report's role): storage sampled daily per
repository and storage class, with the repository's tags of the day (``sampling``), bytes
pulled (or redirected to the storage) counted per process and flushed as daily rows
(``transfer``), and reports in GB-months and GB transferred, priced and grouped by
repository, account or a resource tag (``report``). The daily sampling job is in ``tasks``."""
