"""Training: config to runnable parts (:mod:`.build`), the one worker loop (:mod:`.loop`),
checkpoints (:mod:`.checkpoint`) and the dry builds that check a plan (:mod:`.check`).
torch lives here; Ray does not."""
