# cdc-filter -f test
.after.status == "paid"
