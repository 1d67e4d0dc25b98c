"""
The wait rules: how a connect link, a post or a health gate ends, and how a wait paces itself.

Used alike by triggers (in the triggerer) and by operators and sensors waiting in a worker, so
every mode ends the same way. Never imports ``triggers``: deferring is the task plumbing's job.
"""
