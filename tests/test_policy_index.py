"""The DNS security policy's entry index (issue 18): the same decisions as a scan of every rule, cheaper.

facts-2 §10.3: the first enabled rule, by priority, with a domain list entry equal to or above
any name of the chain decides. The index only narrows which rules are asked.
"""

from __future__ import annotations

import pickle
import random

from dnsemu.core.policy import SecurityPolicy, SecurityRule


def rule(name: str, priority: int, *entries: str, enabled: bool = True, chain: bool = True) -> SecurityRule:
    return SecurityRule(name, priority, "Block", False, (("list-" + name, frozenset(entries)),), enabled, chain)


def scan(policy: SecurityPolicy, chain: list[str]) -> list[tuple[str, tuple[str, str, str] | None]]:
    return [(r.name, r.match(chain)) for r in policy.rules if r.match(chain) is not None]


def indexed(policy: SecurityPolicy, chain: list[str]) -> list[tuple[str, tuple[str, str, str] | None]]:
    return [(r.name, r.match(chain)) for r in policy.candidates(chain) if r.match(chain) is not None]


def test_candidates_give_the_rules_a_scan_finds_in_the_same_order() -> None:
    rng = random.Random(18)
    domains = [f"d{i}.example." for i in range(30)] + ["example.", "corp.test.", "a.corp.test."]
    rules = tuple(rule(f"r{i:02d}", 100 + i, *rng.sample(domains, 3), enabled=i % 7 != 0, chain=i % 5 != 0)
                  for i in range(40))
    policy = SecurityPolicy("p", "eastus", "v", "eastus", rules)
    for _ in range(500):
        chain = [f"host{rng.randrange(3)}." + rng.choice(domains) for _ in range(rng.randrange(1, 4))]
        chain.append(rng.choice(["other.net.", "x.a.corp.test.", "y.d3.example."]))
        assert indexed(policy, chain) == scan(policy, chain), chain


def test_covers_says_whether_any_entry_is_at_or_above_a_name() -> None:
    policy = SecurityPolicy("p", "eastus", "v", "eastus", (rule("r", 100, "bad.example."),))
    assert policy.covers("bad.example.") and policy.covers("x.y.bad.example.")
    assert not policy.covers("example.") and not policy.covers("good.example.")


def test_a_rule_listing_one_entry_twice_is_asked_once_and_the_index_pickles() -> None:
    twice = SecurityRule("r", 100, "Alert", False, (("a", frozenset({"x.test."})), ("b", frozenset({"x.test."}))))
    policy = SecurityPolicy("p", "eastus", "v", "eastus", (twice,))
    assert policy.by_entry == {"x.test.": (0,)}
    assert pickle.loads(pickle.dumps(policy)).candidates(["a.x.test."]) == [twice]
