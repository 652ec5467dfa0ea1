package dev.jllm.hub;

/**
 * A model that cannot be fetched or found: a bad reference, a file the repository does not have, no network and no
 * cached copy, a refused token, a transfer that failed verification. The message is one line a user can act on; it
 * never contains the access token.
 */
public class HubException extends RuntimeException {

    public HubException(String message) {
        super(message);
    }

    public HubException(String message, Throwable cause) {
        super(message, cause);
    }
}
