"""Natural-language title search: request types and errors, the catalog view, lexical and dense
retrieval, fusion, the engine and its offline evaluation (a peer of ranking/ and ads/)."""
