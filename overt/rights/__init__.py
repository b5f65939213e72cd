"""People's rights: data-subject requests (access, erasure, rectification, objection) and complaints.

The rules live here (kinds, deadlines, what may follow what); the service layer (`overt/services/rights.py`)
gates, searches and audits; `letter.py` renders the answer a person receives.
"""
