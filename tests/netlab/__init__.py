"""A network lab: client and server in their own Linux network namespaces, joined through
an impaired link (loss, jitter, reordering, a rate cap, outages) or a NAT that lets only
a TURN relay through. See lab.py."""
