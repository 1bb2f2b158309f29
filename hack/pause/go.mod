module podplane.dev/hack/pause

go 1.22
