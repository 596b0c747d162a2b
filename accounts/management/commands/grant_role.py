from accounts.management.role_command import RoleCommand
from accounts.models import User
from accounts.people import grant_role
from accounts.permissions import Role


class Command(RoleCommand):
    help = "Grant a role (administrator, reviewer, approver, auditor) to an existing user."

    def change(self, *, user: User, role: Role) -> str:
        if grant_role(user=user, role=role):
            return f"Granted {role.value} to {user.email}"
        return f"{user.email} already holds {role.value}"
