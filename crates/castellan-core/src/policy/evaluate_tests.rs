//! Table and property tests for the Conditional Access evaluator.
