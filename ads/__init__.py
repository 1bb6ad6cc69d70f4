"""Marquee ads layer: which ads to play in a break (see ../shared/STYLE.md for the layering).

Pure code — dataclasses in, decisions out; storage is ``data.ads_store``, HTTP is
``services/routers/ads.py``, wire formats are ``services/protocols`` (OpenRTB 2.6, VAST 4).

* ``inventory`` — advertisers, campaigns, line items (flight, budget, pacing, bid, tier, targeting,
  caps), creatives; validation of the admin API's documents; ``demo`` — the generated demo inventory.
* ``request`` — the protocol-neutral ad request (pods, slots, content, viewer, privacy signals).
* ``privacy`` → ``eligibility`` → ``delivery`` (frequency caps, reservations, idempotent tracking
  effects) → ``pacing`` → ``response_model`` (P(complete), P(click) from the shared features) →
  ``selector`` (scoring, first-price auction with priority tiers, pod construction with competitive
  separation; ``AdEngine`` and the ``RandomEligibleSelector`` baseline).
* ``tracking`` — signed tracking tokens; ``simulator`` — documented viewers on the real catalog;
  ``train`` — the response model from simulator logs; ``hashing`` — the hashing trick and logistic
  regression (also exercised on the Criteo/Avazu samples).
"""
