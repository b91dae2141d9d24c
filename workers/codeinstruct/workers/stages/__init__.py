"""Pipeline stages: each a small block over a stream of records that gives a reason for every drop."""
