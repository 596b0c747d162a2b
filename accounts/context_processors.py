from accounts.permissions import capabilities_of


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"can": {}}
    # The first path segment ("review", "findings", ...) marks the current navigation entry.
    section = request.path.strip("/").split("/", 1)[0]
    return {"can": capabilities_of(user), "section": section}
