"""What Berth's web pages share (the gallery, the console): templates rendered on the server
with autoescaping, Markdown rendered and then sanitized, and headers that keep any script
out of a visitor's browser."""
