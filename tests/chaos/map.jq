# The document cdc-map --doc makes of a row in the chaos runs: the secret
# column goes, a derived label comes.  compare.py applies the same program
# to the table's rows (with jq) to know what the index must hold.
del(.secret) | .label = "g\(.grp)-\(.status)"
