"""The packing houses' portal at /portal: log in with an API token, see lots, order and download stamp rolls,
activate serial ranges on a lot. Server-rendered pages over the issuer's and printing's services."""
