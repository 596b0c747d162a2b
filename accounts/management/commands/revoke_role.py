from accounts.management.role_command import RoleCommand
from accounts.models import User
from accounts.people import revoke_role
from accounts.permissions import Role


class Command(RoleCommand):
    help = "Take a role (administrator, reviewer, approver, auditor) away from a user (audited)."

    def change(self, *, user: User, role: Role) -> str:
        if revoke_role(user=user, role=role):
            return f"Revoked {role.value} from {user.email}"
        return f"{user.email} does not hold {role.value}"
