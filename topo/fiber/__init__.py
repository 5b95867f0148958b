"""The fiber ``H(c) = {θ : B̃ q(θ) = c}`` of gradient flow, exactly: balances and the
tolerance rule (`balance`), bottleneck decomposition, maximum-weight
closures, flows, frozen edges and components with certificates
(`connectivity`), paths inside a component, exact Betti numbers and
singular strata.
"""
