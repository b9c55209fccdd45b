"""Simulator adapters: one module per simulator, all following :mod:`.base`."""
