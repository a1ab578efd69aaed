"""The lab: a simulated population of mail servers on loopback addresses."""
