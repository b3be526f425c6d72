"""Nexus Studio's Qt front end: thin views over ``nexus_core`` objects. No ML or business logic here."""
