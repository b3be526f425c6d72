"""Exchange rates from the Frankfurter API (European Central Bank reference rates; free, no key)."""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any

from nexus_sdk import BaseAdapter, ModuleError, operation, register_adapter
from pydantic import BaseModel, Field

_CODE = re.compile(r"^[A-Za-z]{3}$")


class FrankfurterConfig(BaseModel):
    base_url: str = "https://api.frankfurter.app"


def _code(text: str) -> str:
    if not _CODE.match(text.strip()):
        raise ModuleError(f"{text!r} is not a three-letter currency code such as USD or EUR")
    return text.strip().upper()


@register_adapter
class ExchangeRates(BaseAdapter[FrankfurterConfig]):
    async def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return await self.get_json(f"{self.config.base_url}{path}", params, service="Frankfurter",
                                   errors={404: ModuleError("Frankfurter does not know that currency or date")})

    @operation
    async def convert(self, amount: Annotated[float, Field(gt=0)], from_currency: str, to_currency: str,
                      on_date: date | None = None) -> dict[str, Any]:
        """Convert an amount between currencies at the ECB reference rate (latest, or on a past date).

        Args:
            amount: the amount to convert
            from_currency: three-letter code, e.g. USD
            to_currency: three-letter code, e.g. EUR
            on_date: a past date (YYYY-MM-DD) for a historical rate; latest when left out
        """
        source, target = _code(from_currency), _code(to_currency)
        if source == target:
            return {"amount": amount, "from": source, "to": target, "result": amount, "rate": 1.0, "date": None}
        path = f"/{on_date.isoformat()}" if on_date else "/latest"
        data = await self._get(path, {"amount": amount, "from": source, "to": target})
        result = (data.get("rates") or {}).get(target)
        if result is None:
            raise ModuleError(f"no rate from {source} to {target}")
        return {"amount": amount, "from": source, "to": target, "result": result, "rate": result / amount,
                "date": data.get("date")}

    @operation
    async def currencies(self) -> dict[str, str]:
        """The currencies that can be converted, code to name."""
        return await self._get("/currencies")

    async def health_check(self) -> bool:
        return "EUR" in await self._get("/currencies")
