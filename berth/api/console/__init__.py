"""The web console at /console: server-rendered pages over the ECR API's own operations, as
the signed-in principal (berth.iam.console), so a page shows and a form changes exactly what
that principal's API calls would."""
