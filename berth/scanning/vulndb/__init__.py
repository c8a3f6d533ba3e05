"""Vulnerability advisories: OSV records read offline, matched against package versions."""
