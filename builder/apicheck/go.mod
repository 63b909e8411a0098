module d7y-apicheck

go 1.17
