"""Example applications built on Overdrive."""
