"""The sink's pure core: the batching rule per table.

The records, the chains and their verification are the history of record's own library,
`pantau.history`, shared with `pantau verify` and the auditors' tools.
"""
