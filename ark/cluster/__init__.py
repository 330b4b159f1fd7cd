"""The cluster's own API (kube-apiserver), which delegated mode relies on: its client, list+watch
caches of what it serves, and the admission lookups (namespaces, core objects) read from it."""
