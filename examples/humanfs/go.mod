module example.com/d7y-plugins/humanfs

go 1.23.0

require (
	d7y.io/dragonfly/v2 v2.1.0
	github.com/dustin/go-humanize v1.0.1
)

require github.com/google/uuid v1.5.0 // indirect

