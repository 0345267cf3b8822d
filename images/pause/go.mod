module payment-service/images/pause

go 1.22
