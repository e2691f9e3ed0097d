"""The languages specs are written in: C expressions, Kconfig conditions, and the guards
that C and Python emitters wrap conditional statements in."""
