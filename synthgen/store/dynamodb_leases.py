"""Run leases on DynamoDB: a conditional update of the run item, so the check and the write are one step."""

from __future__ import annotations

from typing import Any

from . import dynamodb_codec as codec
from .base import UnknownRun, check_lease
from .dynamodb_calls import ConditionFailed


class DynamoLeases:
    """The lease methods of DynamoDBStore (see Store.claim_run); mixed in, sharing its calls and keys."""

    table: str
    url: str
    _calls: Any
    _wall: Any

    # --- leases: a conditional update of the run item, so the check and the write are one step ---
    def claim_run(self, run_id: str, owner: str, ttl_s: float) -> bool:
        check_lease(ttl_s)
        now = self._wall()
        return self._lease(
            run_id,
            owner,
            now + ttl_s,
            "attribute_exists(#k) AND (attribute_not_exists(#o) OR #e < :now OR #o = :me)",
            now,
        )

    def renew_run(self, run_id: str, owner: str, ttl_s: float) -> bool:
        check_lease(ttl_s)
        return self._lease(run_id, owner, self._wall() + ttl_s, "attribute_exists(#k) AND #o = :me")

    def release_run(self, run_id: str, owner: str) -> None:
        try:
            self._calls(
                "update_item",
                TableName=self.table,
                Key=self._run_key(run_id),
                UpdateExpression="REMOVE #o, #e",
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "lease_owner", "#e": "lease_expires"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except ConditionFailed:
            pass  # not ours (or no such run): nothing to release

    def _lease(self, run_id: str, owner: str, expires: float, condition: str, now: float | None = None) -> bool:
        values = {":me": {"S": owner}, ":exp": codec.av(expires)}
        if now is not None:
            values[":now"] = codec.av(now)
        try:
            # a retry after a lost answer finds the lease ours already: taken, as it should be
            self._calls(
                "update_item",
                TableName=self.table,
                Key=self._run_key(run_id),
                UpdateExpression="SET #o = :me, #e = :exp",
                ConditionExpression=condition,
                ExpressionAttributeNames={"#k": "sk", "#o": "lease_owner", "#e": "lease_expires"},
                ExpressionAttributeValues=values,
            )
            return True
        except ConditionFailed:
            if self._run_models(run_id) is None:
                raise UnknownRun(f"run {run_id} is not in {self.url}") from None
            return False

    def lease_holder(self, run_id: str) -> tuple[str, float] | None:
        item = self._calls(
            "get_item",
            TableName=self.table,
            Key=self._run_key(run_id),
            ConsistentRead=True,
            ProjectionExpression="lease_owner, lease_expires",
        ).get("Item")
        if not item or "lease_owner" not in item:
            return None
        plain = codec.plain_of(item)
        return str(plain["lease_owner"]), float(plain.get("lease_expires") or 0)
