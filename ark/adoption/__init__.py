"""Moving data in and up: export, import (from files or from a cluster's Ark CRDs) and copying
one database to another (docs/moving-in.md)."""
