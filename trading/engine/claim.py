"""The engine process's claim on the singleton row, checked where it protects the money: in the transaction
that writes an order's intent row, just before the order is sent.

A claim is the owner ("host:pid") and the generation the successful claim raised it to. A process frozen after
its last check (SIGSTOP, a closed laptop lid) and taken over in the meantime wakes up believing it still owns
the engine. The fence is a conditional UPDATE on the claim, run in the same transaction as the intent row: either
the row is committed while the claim still holds (a process that takes over afterwards finds the NEW order and
looks it up by identifier before it trades), or nothing is written and nothing is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Exists, F

from trading.engine.outcome import EngineStopped
from trading.models import EngineState


@dataclass(frozen=True, slots=True)
class Claim:
    owner: str
    generation: int

    @classmethod
    def of(cls, owner: str) -> Claim:
        """`owner`'s claim as it stands now (generation -1, which never holds, when someone else owns the row)."""
        current = EngineState.objects.filter(pk=EngineState.SINGLETON_PK, owner=owner)
        generation = current.values_list("claim_generation", flat=True).first()
        return cls(owner=owner, generation=-1 if generation is None else generation)

    def held(self) -> Exists:
        """A condition for an UPDATE's WHERE: true while this claim still holds the engine."""
        return Exists(EngineState.objects.filter(pk=EngineState.SINGLETON_PK, owner=self.owner, claim_generation=self.generation))

    def holder(self) -> tuple[str, int]:
        """Who holds the claim now: (owner, generation)."""
        owner, generation = EngineState.objects.values_list("owner", "claim_generation").get(pk=EngineState.SINGLETON_PK)
        return owner, generation

    def lost_to(self) -> ClaimLost | None:
        """The loss, when another claim (another process, or a newer claim under the same name) holds the row."""
        owner, generation = self.holder()
        if (owner, generation) == (self.owner, self.generation):
            return None
        return ClaimLost(self, owner, generation)

    def fence(self) -> Callable[[], None]:
        """For `services.order_intent_create`: raises ClaimLost, inside the intent's transaction, unless the claim
        still holds. The UPDATE locks the row until that transaction ends, so a takeover waits for the intent."""

        def check() -> None:
            still = EngineState.objects.filter(
                pk=EngineState.SINGLETON_PK, owner=self.owner, claim_generation=self.generation
            ).update(claim_generation=F("claim_generation"))
            if not still:
                raise self.lost_to() or ClaimLost(self, "", -1)

        return check


class ClaimLost(EngineStopped):
    """Another engine process claimed the engine after this one did: this one must send nothing and stop trading."""

    def __init__(self, claim: Claim, owner: str, generation: int) -> None:
        super().__init__(
            f"another engine process ({owner or 'none'}, claim {generation}) owns the engine now, not this one "
            f"({claim.owner}, claim {claim.generation}); no order sent, and this process stops trading"
        )
        self.claim = claim
        self.owner = owner
        self.generation = generation
