//! Subnet CIDR layout: the public, private and data subnet of every AZ, computed from the VPC
//! CIDR and per-tier sizes (or given explicitly), never overlapping, always inside the VPC.
//!
//! Every tier reserves a slot for each of the [`MAX_AZS`] zones whether used or not, so adding
//! or removing an AZ never moves the CIDRs of the others.

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// The most AZs a stack spreads over.
pub const MAX_AZS: usize = 6;

/// A subnet tier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tier {
    /// Load balancers and NAT gateways; routed to the internet gateway.
    Public,
    /// Tasks; routed to the internet through NAT (or not at all with `nat = none`).
    Private,
    /// Databases; no route out of the VPC.
    Data,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Public, Tier::Private, Tier::Data];

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Public => "public",
            Tier::Private => "private",
            Tier::Data => "data",
        }
    }
}

/// How one tier's CIDRs are chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TierCidrs {
    /// Computed blocks of this prefix length (e.g. 24 for /24).
    Prefix(u8),
    /// Given explicitly, one per AZ in order.
    Explicit(Vec<Ipv4Net>),
}

/// Why a layout cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error(
        "/{prefix} {tier} subnets do not fit: the VPC {vpc} has no room left for {needed} of them"
    )]
    DoesNotFit {
        tier: &'static str,
        prefix: u8,
        needed: usize,
        vpc: Ipv4Net,
    },
    #[error("a /{prefix} {tier} subnet cannot be smaller than /28 or larger than the VPC {vpc}")]
    BadPrefix {
        tier: &'static str,
        prefix: u8,
        vpc: Ipv4Net,
    },
    #[error("{tier} subnet {cidr} is not inside the VPC {vpc}")]
    OutsideVpc {
        tier: &'static str,
        index: usize,
        cidr: Ipv4Net,
        vpc: Ipv4Net,
    },
    #[error("{tier} subnet {cidr} overlaps {other_tier} subnet {other}")]
    Overlap {
        tier: &'static str,
        index: usize,
        cidr: Ipv4Net,
        other_tier: &'static str,
        other: Ipv4Net,
    },
    #[error("{tier} lists {given} subnets but the network spans {needed} AZs")]
    TooFew {
        tier: &'static str,
        given: usize,
        needed: usize,
    },
}

impl LayoutError {
    /// The tier and index (in an explicit list) the error is about, for naming config keys.
    pub fn location(&self) -> (&'static str, Option<usize>) {
        match self {
            LayoutError::DoesNotFit { tier, .. }
            | LayoutError::BadPrefix { tier, .. }
            | LayoutError::TooFew { tier, .. } => (tier, None),
            LayoutError::OutsideVpc { tier, index, .. }
            | LayoutError::Overlap { tier, index, .. } => (tier, Some(*index)),
        }
    }
}

/// The subnet CIDRs of each tier, indexed by AZ slot (`[tier][az]`, tiers in [`Tier::ALL`] order).
pub type Layout = [Vec<Ipv4Net>; 3];

/// Computes the subnets of `az_count` AZs. Explicit CIDRs are checked first; computed tiers
/// are then allocated from the bottom of the VPC, largest blocks first, each block the next
/// aligned one that overlaps nothing allocated yet.
pub fn layout(
    vpc: Ipv4Net,
    az_count: usize,
    tiers: &[TierCidrs; 3],
) -> Result<Layout, LayoutError> {
    let vpc = vpc.trunc();
    let mut taken: Vec<(Tier, Ipv4Net)> = Vec::new();
    let mut result: Layout = [Vec::new(), Vec::new(), Vec::new()];
    for (t, tier) in Tier::ALL.iter().enumerate() {
        if let TierCidrs::Explicit(cidrs) = &tiers[t] {
            if cidrs.len() < az_count {
                return Err(LayoutError::TooFew {
                    tier: tier.as_str(),
                    given: cidrs.len(),
                    needed: az_count,
                });
            }
            for (index, cidr) in cidrs.iter().enumerate() {
                let cidr = cidr.trunc();
                if !vpc.contains(&cidr) {
                    return Err(LayoutError::OutsideVpc {
                        tier: tier.as_str(),
                        index,
                        cidr,
                        vpc,
                    });
                }
                if let Some((other_tier, other)) = taken.iter().find(|(_, o)| overlaps(o, &cidr)) {
                    return Err(LayoutError::Overlap {
                        tier: tier.as_str(),
                        index,
                        cidr,
                        other_tier: other_tier.as_str(),
                        other: *other,
                    });
                }
                taken.push((*tier, cidr));
            }
            result[t] = cidrs.iter().take(az_count).map(Ipv4Net::trunc).collect();
        }
    }
    // Largest blocks first keeps alignment waste low; ties keep tier order.
    let mut computed: Vec<(usize, u8)> = tiers
        .iter()
        .enumerate()
        .filter_map(|(t, c)| match c {
            TierCidrs::Prefix(p) => Some((t, *p)),
            TierCidrs::Explicit(_) => None,
        })
        .collect();
    computed.sort_by_key(|(t, p)| (*p, *t));
    for (t, prefix) in computed {
        let tier = Tier::ALL[t];
        if prefix < vpc.prefix_len() || prefix > 28 {
            return Err(LayoutError::BadPrefix {
                tier: tier.as_str(),
                prefix,
                vpc,
            });
        }
        let mut blocks = vpc.subnets(prefix).expect("prefix checked against the VPC");
        let mut allocated = Vec::with_capacity(MAX_AZS);
        while allocated.len() < MAX_AZS {
            let Some(block) = blocks.next() else {
                return Err(LayoutError::DoesNotFit {
                    tier: tier.as_str(),
                    prefix,
                    needed: MAX_AZS,
                    vpc,
                });
            };
            if taken.iter().all(|(_, o)| !overlaps(o, &block)) {
                taken.push((tier, block));
                allocated.push(block);
            }
        }
        result[t] = allocated.into_iter().take(az_count).collect();
    }
    Ok(result)
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn default_sizes_in_a_slash_16() {
        let l = layout(
            net("10.0.0.0/16"),
            3,
            &[
                TierCidrs::Prefix(24),
                TierCidrs::Prefix(20),
                TierCidrs::Prefix(24),
            ],
        )
        .unwrap();
        // Private (/20) is allocated first: 6 × /20 = 10.0.0.0 – 10.0.95.255.
        assert_eq!(
            l[1],
            [net("10.0.0.0/20"), net("10.0.16.0/20"), net("10.0.32.0/20")]
        );
        assert_eq!(
            l[0],
            [
                net("10.0.96.0/24"),
                net("10.0.97.0/24"),
                net("10.0.98.0/24")
            ]
        );
        assert_eq!(
            l[2],
            [
                net("10.0.102.0/24"),
                net("10.0.103.0/24"),
                net("10.0.104.0/24")
            ]
        );
    }

    #[test]
    fn fewer_azs_keep_the_same_cidrs() {
        let tiers = [
            TierCidrs::Prefix(24),
            TierCidrs::Prefix(20),
            TierCidrs::Prefix(24),
        ];
        let three = layout(net("10.0.0.0/16"), 3, &tiers).unwrap();
        let two = layout(net("10.0.0.0/16"), 2, &tiers).unwrap();
        for t in 0..3 {
            assert_eq!(two[t][..], three[t][..2]);
        }
    }

    #[test]
    fn too_big_subnets_do_not_fit() {
        let err = layout(
            net("10.0.0.0/20"),
            3,
            &[
                TierCidrs::Prefix(24),
                TierCidrs::Prefix(22),
                TierCidrs::Prefix(24),
            ],
        )
        .unwrap_err();
        assert!(
            matches!(
                err,
                LayoutError::DoesNotFit {
                    tier: "private",
                    ..
                }
            ),
            "{err}"
        );
    }

    #[test]
    fn explicit_cidrs_are_checked_for_overlap_and_containment() {
        let err = layout(
            net("10.0.0.0/16"),
            2,
            &[
                TierCidrs::Explicit(vec![net("10.0.0.0/24"), net("10.0.1.0/24")]),
                TierCidrs::Explicit(vec![net("10.0.1.0/24"), net("10.0.2.0/24")]),
                TierCidrs::Prefix(24),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "private subnet 10.0.1.0/24 overlaps public subnet 10.0.1.0/24"
        );
        assert_eq!(err.location(), ("private", Some(0)));
        let err = layout(
            net("10.0.0.0/16"),
            1,
            &[
                TierCidrs::Explicit(vec![net("10.1.0.0/24")]),
                TierCidrs::Prefix(24),
                TierCidrs::Prefix(24),
            ],
        )
        .unwrap_err();
        assert!(matches!(err, LayoutError::OutsideVpc { .. }));
    }

    #[test]
    fn computed_tiers_flow_around_explicit_ones() {
        let l = layout(
            net("10.0.0.0/16"),
            2,
            &[
                TierCidrs::Explicit(vec![net("10.0.0.0/24"), net("10.0.1.0/24")]),
                TierCidrs::Prefix(24),
                TierCidrs::Prefix(24),
            ],
        )
        .unwrap();
        assert_eq!(l[1], [net("10.0.2.0/24"), net("10.0.3.0/24")]);
        assert_eq!(l[2], [net("10.0.8.0/24"), net("10.0.9.0/24")]);
    }

    proptest! {
        #[test]
        fn subnets_never_overlap_and_stay_inside_the_vpc(
            vpc_prefix in 16u8..=24,
            sizes in prop::array::uniform3(16u8..=28),
            az_count in 1usize..=MAX_AZS,
            base in any::<u32>(),
        ) {
            let vpc = Ipv4Net::new(base.into(), vpc_prefix).unwrap().trunc();
            let tiers = sizes.map(TierCidrs::Prefix);
            if let Ok(l) = layout(vpc, az_count, &tiers) {
                let all: Vec<Ipv4Net> = l.iter().flatten().copied().collect();
                prop_assert_eq!(all.len(), 3 * az_count);
                for (i, a) in all.iter().enumerate() {
                    prop_assert!(vpc.contains(a));
                    for b in &all[i + 1..] {
                        prop_assert!(!overlaps(a, b), "{} overlaps {}", a, b);
                    }
                }
            } else {
                // Only when the blocks genuinely cannot fit (6 per tier): largest-first
                // allocation of aligned power-of-two blocks wastes no space.
                let needed: u64 = sizes.iter().map(|p| 6u64 << (32 - u32::from(*p))).sum();
                let bad_prefix = sizes.iter().any(|p| *p < vpc_prefix);
                prop_assert!(bad_prefix || needed > 1u64 << (32 - u32::from(vpc_prefix)));
            }
        }
    }
}
