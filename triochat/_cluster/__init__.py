"""Cluster mode: several triochat nodes that look like one network, replicated through Redis.

Pure parts (:mod:`.events`, :mod:`.replica`) never do I/O; :mod:`.bus` is the
interface to the shared store with an in-memory implementation for tests;
:mod:`.redis` implements it on coredis (imported only in cluster mode);
:mod:`.node` is the trio service that ties a node's state to the bus.
"""
