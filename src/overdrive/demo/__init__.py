"""`overdrive demo`: the reference application, plain then optimised, under the same load.

Not a public API: the command is the interface (`overdrive demo --help`).
"""
