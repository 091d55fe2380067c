def is_paid: .after.status == "paid";
