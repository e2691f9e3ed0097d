"""The languages specs are written in: C expressions (cexpr), Kconfig conditions
(condition) and the .config files they are read against (kconfig), and the guards that C
and Python emitters wrap conditional statements in (guards)."""
