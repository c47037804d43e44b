-- Back to 0018: the two chain functions plan with the session's enable_sort.
ALTER FUNCTION audit_chain_link() RESET enable_sort;
ALTER FUNCTION audit_chain_flush() RESET enable_sort;
