"""Image signing: signing profiles (keys with their X.509 chains), ECR's managed signing
(a Notary Project signature pushed beside each new image a rule matches), and verification
against a Notation trust policy."""
