"""The adapter protocol every integration module implements.

    class WeatherConfig(BaseModel):
        base_url: str = "https://api.open-meteo.com"

    @register_adapter
    class OpenMeteo(BaseAdapter[WeatherConfig]):
        @operation
        async def current(self, latitude: float, longitude: float) -> dict:
            \"\"\"Current weather at a place.

            Args:
                latitude: degrees north
                longitude: degrees east
            \"\"\"
            response = await self.http.get(f"{self.config.base_url}/v1/forecast", params=...)
            return response.json()

Configuration (a pydantic model named by the generic argument) and credentials are injected when the
module loads; each ``@operation`` becomes a tool the agent can call, its schema taken from the signature.
Self-contained like ``signature.py``: it is copied into the module sandbox as ``nexus_sdk``.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel

from .signature import args_model, parse_docstring, strip_titles, validate_arguments

Risk = Literal["safe", "risky"]
ConfigT = TypeVar("ConfigT", bound=BaseModel)


class ModuleError(Exception):
    """A failure the module explains in words a person (and the agent) can act on."""

    kind = "module_error"


class CredentialsMissing(ModuleError):  # noqa: N818 - reads as a state: "credentials missing"
    """The module needs a credential the user has not set; the app flags the module instead of failing it."""

    kind = "credentials"


class UpstreamError(ModuleError):
    """The service the module talks to answered with an error or not at all."""

    kind = "upstream"


class NoConfig(BaseModel):
    """For adapters without settings."""


@dataclass(frozen=True)
class OperationSpec:
    """What the agent sees of one operation, and how to call it."""

    name: str
    description: str
    parameters: dict[str, Any]
    risk: Risk
    timeout_s: float
    model: type[BaseModel]

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "parameters": self.parameters,
                "risk": self.risk, "timeout_s": self.timeout_s}


def operation(fn: Callable[..., Any] | None = None, *, risk: Risk = "safe", timeout_s: float = 30.0) -> Any:
    """Mark an ``async def`` method as an operation (``@operation`` or ``@operation(risk="risky")``)."""

    def mark(method: Callable[..., Any]) -> Callable[..., Any]:
        if not inspect.iscoroutinefunction(method):
            raise TypeError(f"operation {method.__name__} must be 'async def'")
        method.__nexus_operation__ = {"risk": risk, "timeout_s": timeout_s}  # type: ignore[attr-defined]
        return method

    return mark(fn) if fn is not None else mark


@functools.cache
def ssl_context() -> Any:
    """One TLS context for every adapter: building it (reading the CA bundle) is the slow part of a client."""
    import ssl

    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        return ssl.create_default_context()


class BaseAdapter(Generic[ConfigT]):
    """Subclass with ``BaseAdapter[YourConfig]``; ``self.config``, ``self.http`` and ``credential()`` are ready."""

    config_model: ClassVar[type[BaseModel]] = NoConfig
    _operation_specs: ClassVar[dict[str, OperationSpec] | None] = None
    user_agent: ClassVar[str] = "NexusStudio-module/1"

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if typing.get_origin(base) is BaseAdapter:
                (arg,) = typing.get_args(base)
                if isinstance(arg, type) and issubclass(arg, BaseModel):
                    cls.config_model = arg

    def __init__(self, config: Mapping[str, Any] | BaseModel | None = None,
                 credentials: Mapping[str, str] | None = None, *, transport: Any = None) -> None:
        raw = config.model_dump() if isinstance(config, BaseModel) else dict(config or {})
        self.config: ConfigT = self.config_model.model_validate(raw)  # type: ignore[assignment]
        self._credentials = dict(credentials or {})
        self._transport = transport
        self._http: Any = None

    @property
    def http(self) -> Any:
        """An ``httpx.AsyncClient``, made on first use (a test's mock transport needs no TLS, and the validation
        sandbox has no ssl module to give it)."""
        if self._http is None:
            import httpx

            tls = {} if self._transport is not None else {"verify": ssl_context()}
            self._http = httpx.AsyncClient(transport=self._transport, timeout=20.0, follow_redirects=True,
                                           headers={"User-Agent": self.user_agent}, **tls)
        return self._http

    def credential(self, name: str) -> str:
        """The credential ``name`` from the app's store; CredentialsMissing (a flag, not a crash) when unset."""
        value = self._credentials.get(name)
        if not value:
            raise CredentialsMissing(f"the credential {name!r} is not set for this module")
        return value

    async def get_json(self, url: str, params: Mapping[str, Any] | None = None, *, service: str,
                       errors: Mapping[int, ModuleError] | None = None) -> Any:
        """GET ``url`` and return its JSON: a transport failure or an unexpected status is an UpstreamError
        naming ``service``; ``errors`` maps statuses the service uses for the caller's mistakes (404 unknown
        place, 401 bad key) to the error the agent should see."""
        try:
            response = await self.http.get(url, params=dict(params) if params is not None else None)
        except Exception as exc:  # httpx raises a family of transport errors; all mean "could not reach it"
            raise UpstreamError(f"{service} could not be reached: {type(exc).__name__}") from exc
        if errors and response.status_code in errors:
            raise errors[response.status_code]
        if response.status_code != 200:
            raise UpstreamError(f"{service} answered HTTP {response.status_code}")
        return response.json()

    async def health_check(self) -> bool:
        """Override to probe the service cheaply; True means healthy. The default only says it loaded."""
        return True

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    @classmethod
    def operations(cls) -> dict[str, OperationSpec]:
        """Every ``@operation`` with its schema, built once per class."""
        cached = cls.__dict__.get("_operation_specs")
        if cached is not None:
            return cached
        specs: dict[str, OperationSpec] = {}
        for name, member in inspect.getmembers(cls, inspect.iscoroutinefunction):
            meta = getattr(member, "__nexus_operation__", None)
            if meta is None:
                continue
            summary, _args = parse_docstring(inspect.getdoc(member) or "")
            model = args_model(member, name, skip_first=True)
            specs[name] = OperationSpec(name, summary or name, strip_titles(model.model_json_schema()),
                                        meta["risk"], float(meta["timeout_s"]), model)
        cls._operation_specs = specs
        return specs

    async def call(self, name: str, arguments: Mapping[str, Any]) -> Any:
        """Run one operation with checked arguments (ValueError naming the bad fields)."""
        spec = self.operations().get(name)
        if spec is None:
            raise ModuleError(f"this module has no operation {name!r}")
        checked = validate_arguments(spec.model, name, dict(arguments))
        return await getattr(self, name)(**checked)


ADAPTERS: dict[str, type[BaseAdapter[Any]]] = {}


def register_adapter(cls: type[BaseAdapter[Any]]) -> type[BaseAdapter[Any]]:
    """Class decorator: the adapter registers itself (by class name) when its module is imported."""
    if not (isinstance(cls, type) and issubclass(cls, BaseAdapter)):
        raise TypeError("@register_adapter goes on a BaseAdapter subclass")
    if not cls.operations():
        raise TypeError(f"{cls.__name__} has no @operation methods")
    ADAPTERS[cls.__name__] = cls
    return cls
