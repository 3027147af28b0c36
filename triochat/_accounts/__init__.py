"""Accounts: who may use a name, proved by a password or a certificate (SASL, NickServ).

* :mod:`.records`: the pure data (accounts, the questions the state asks about them);
* :mod:`.sasl`: SASL PLAIN and SCRAM-SHA-256 as sans-IO exchanges;
* :mod:`.store`: the ``accounts`` table, in the same SQLite database as the history;
* :mod:`.service`: the trio side, hashing in worker threads under one limiter.
"""
