"""The intake's pure core: request bodies checked and turned into records, rate limits, and the
port records are published through.

Imports only `pantau.core`: no web framework, no Kafka client, no clock (time comes in as an
argument).
"""
