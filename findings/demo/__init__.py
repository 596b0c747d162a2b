"""The simulated AWS organization (moto) and the demo data ``make run`` serves.
Sits on top: may import collection, reviews and aws; nothing in the product imports it."""
