"""The IoT Central portal pages of the enable-trust unit, served by the fake, and the training checklist.

A learner follows the unit click for click: the **Menu** button, **Administration** › **Device Connection**, the
enrollment groups with **+ New**, **+ Manage primary**, the **Primary certificate** dialog with **Generate
verification code** and **Verify**, the **Devices** page — plus a **Checklist** that ticks the unit's steps from the
world's state. Every page action calls the same Central model as the REST API (:mod:`simulator.central.model`), so
what a page does the API sees, and the other way round; a refusal shows the model's message and changes nothing.

* :mod:`simulator.portal.app` — the Starlette app: one Jinja environment, sessions, the error handler, the routes;
* :mod:`simulator.portal.urls` — the one URL builder;
* :mod:`simulator.portal.contexts` — every page's context as a documented dataclass (and its JSON twin);
* :mod:`simulator.portal.signin` — signed sign-in links (a trainee's, the instructor's) and who may see which app;
* :mod:`simulator.portal.journal` — what the Sphere APIs were asked (sign-in, CA and proof downloads), per tenant;
* :mod:`simulator.portal.checklist` — the unit's steps judged from the world's state and the journal.
"""
