"""The benchmark suite of the Ark API Server (``make bench``; see ``bench/README.md``)."""
