"""Accumulate evidence into dependencies: explicit installs beat declared files beat the
mapping table beat implicit backends; every piece of evidence is kept as provenance."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from nb2svc.deps.installs import InstallSpec
from nb2svc.deps.report import Confidence, Dependency, Provenance

RANK = {
    "pip-line": 0,
    "conda-line": 1,
    "requirements.txt": 2,
    "pyproject.toml": 3,
    "environment.yml": 4,
    "import": 5,
    "dynamic-import": 5,
    "implicit": 6,
}


def confidence_of(rank: int) -> Confidence:
    if rank <= RANK["environment.yml"]:
        return "explicit"
    return "mapped" if rank <= RANK["import"] else "inferred"


@dataclass
class DepBuilder:
    """Mutable accumulator for one distribution; frozen into a `Dependency` at the end."""

    name: str
    rank: int = 99
    source: str = ""
    spec_rank: int = 99
    specifier: str = ""
    version: str | None = None
    extras: tuple[str, ...] = ()
    url: str | None = None
    imports: list[str] = field(default_factory=list)
    provenance: list[Provenance] = field(default_factory=list)
    imported: bool = False
    required: bool = False

    def add(self, source: str, prov: Provenance, spec: InstallSpec | None = None) -> str | None:
        """Record evidence; returns a message when it contradicts an earlier pin."""
        rank = RANK[source]
        if rank < self.rank:
            self.rank, self.source = rank, source
        if prov not in self.provenance:
            self.provenance.append(prov)
        if spec is None:
            return None
        self.extras = tuple(sorted({*self.extras, *spec.extras}))
        self.url = self.url or spec.url
        if not spec.specifier:
            return None
        clash = self._clash(rank, spec)
        if rank <= self.spec_rank:  # same rank: the later cell wins
            self.spec_rank, self.specifier, self.version = rank, spec.specifier, spec.version
        return clash

    def _clash(self, rank: int, spec: InstallSpec) -> str | None:
        if self.specifier and self.specifier != spec.specifier and rank == self.spec_rank:
            return f"{self.name}: `{self.specifier}` and `{spec.specifier}` both requested; "
        return None

    def add_import(self, module: str, optional: bool) -> None:
        self.imported = True
        self.required = self.required or not optional
        if module not in self.imports:
            self.imports.append(module)

    def freeze(self) -> Dependency:
        explicit = self.rank <= RANK["conda-line"]
        return Dependency(
            name=self.name,
            specifier=self.specifier,
            version=self.version,
            source=self.source,
            imports=tuple(self.imports),
            provenance=tuple(self.provenance),
            optional=self.imported and not self.required and not explicit,
            confidence=confidence_of(self.rank),
            extras=self.extras,
            url=self.url,
        )


@dataclass
class Resolution:
    deps: dict[str, DepBuilder] = field(default_factory=dict)

    def get(self, name: str) -> DepBuilder:
        if name not in self.deps:
            self.deps[name] = DepBuilder(name)
        return self.deps[name]

    def freeze(self) -> tuple[Dependency, ...]:
        return tuple(sorted((d.freeze() for d in self.deps.values()), key=lambda d: d.name))

    def pick(self, candidates: Iterable[str], *preferred: Iterable[str]) -> str:
        """The first candidate named by the strongest evidence; else the table's default."""
        options = list(candidates)
        for names in preferred:
            chosen = [c for c in options if c in set(names)]
            if chosen:
                return chosen[0]
        return options[0]
