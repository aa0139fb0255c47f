"""`pantau status`: the applicants' own view of their case, and their reports."""
