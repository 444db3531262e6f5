"""Keys and signatures: the deployment PKI, organisation keys, the network secret, signed envelopes and
sealed disclosures.
"""
